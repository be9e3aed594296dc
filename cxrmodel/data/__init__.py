"""Data sources, one module per source: synthetic studies, OpenI IU X-ray, ChestX-ray14."""
