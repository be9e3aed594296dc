"""The transfer-learning pipeline: pre-train the image encoder, word vectors, fit and evaluate the three models.

``fit`` (training loop, metrics), ``target_data`` and ``target`` (a bundle from your own OpenI-layout studies),
``transfer`` (weights carried between stages), ``pretrain`` (ChestX-ray14 image encoder), ``embeddings``
(word2vec), ``evaluate_text`` (k-fold report-only baselines), ``pipeline`` (all stages) and ``demo`` (the
bundled demo's seeded recipe). Every module here imports Keras, TensorFlow or gensim, so nothing is
re-exported: the commands import them by their full path, only in the process that trains.
"""

__all__: list[str] = []
