"""``make-mlops-easy serve``: an HTTP server for a deployment (``pip install 'make-mlops-easy[serve]'``)."""
