"""Media inputs: image, mask and file fields of a job, and uploads ahead of jobs.

kinds.py       the schema types (image, mask, file) and their options (resize)
references.py  what a field's value may be: base64, data: URL, http(s)://, s3://, upload://
fetch.py       bounded, address-checked fetches of URLs and S3 objects
probe.py       magic bytes, decodability, pixel cap, size limit or fit (Pillow)
multipart.py   the ``file`` part of a multipart/form-data body
store.py       content-addressed storage of input bytes (``_inputs/<sha256>.<ext>``)
resolve.py     a job's media fields → stored files and the names ComfyUI reads them by
uploads.py     ``POST /uploads``: check, store, give the owner an id
setup.py       the pieces built from the settings (limits, fetcher, resolver)
"""
