"""Several trio worker processes under one supervisor process (``pipe-service serve --workers``)."""
