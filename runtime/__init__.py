"""The runtime: the NumPy interpreter that runs and trains checked models, and the onnxruntime
runner. Users reach it through `import specc`; nothing here is needed directly."""
