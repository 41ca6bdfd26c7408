"""What happens to output files on their way into storage and out to clients.

- ``formats``: the ``outputFormat`` a job asks for and the ``?convert=`` of a download;
- ``metadata``: byte-level removal of prompt/workflow metadata (PNG chunks, WEBP EXIF/XMP);
- ``convert``: Pillow re-encoding of still images (alpha flattened for JPEG);
- ``pipeline``: the async stream the worker stores and the server serves;
- ``previews``: shrinking ComfyUI's live preview frames for the event stream.
"""
