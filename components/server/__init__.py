"""The dashboard's server side: what runs behind the page and is not a visual piece.

``authentication`` (HTTP basic auth on every route), ``job_slots`` (how many explanations are computed at once
on this machine), ``study_images`` (the radiograph's own route, with validators) and ``uploads`` (the
per-session store of uploaded studies). The visual components in
``components`` use them; nothing here lays out or draws anything.
"""

__all__ = ["authentication", "job_slots", "study_images", "uploads"]
