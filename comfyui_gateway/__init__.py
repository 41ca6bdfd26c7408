"""ComfyUI Gateway: the core domain shared by the gRPC server and the workers.

Modules here are plain Python (no gRPC types): configuration, errors, persistence,
workflow templates, job state, storage, events. The generated protobuf package
``comfyui_gateway.v1`` (``make proto``) is the contract layer and is imported only by
the adapters (``server``, ``worker``) and the CLI.
"""

__version__ = "0.1.0"
