"""`python -m cxrmodel.worker --model DIR --cache-dir DIR [--host 127.0.0.1] [--port 8061]`: the model worker."""

from cxrmodel.worker.main import main

if __name__ == "__main__":
    raise SystemExit(main())
