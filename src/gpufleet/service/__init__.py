"""The gpufleet service: the REST API (under ``/api/v1``) and the web dashboard, one
FastAPI app over one store (:func:`gpufleet.service.app.create_app`)."""
