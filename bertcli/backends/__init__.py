"""Where models run: torch_backend (transformers on torch: encoders, the QA reader, ONNX
export) and onnx_backend (sentence encoders on ONNX Runtime, no torch); pooling holds the
batching and masked-mean routine both use.

Importing this package imports neither: torch loads only with torch_backend.
"""
