"""Portfolio batch scoring: the online answers for millions of applications, locally or on Spark.

``credit-scoring batch-score`` (``python -m batch``) reads a Parquet or CSV portfolio, joins each
application with its applicant's profile as of its time (Feast's definitions), scores it with the
registry version the predictor would serve and answers exactly as the transformer does:
``job`` runs it, ``local``/``spark`` are the engines, ``scoring`` is the only door into the
serving code. See docs/batch.md.
"""
