"""Champion-challenger comparison and GitOps promotion (``credit-scoring compare|promote|promotion-hook``).

- ``compare``: the comparison report (``monitoring.comparison`` figures, registry evidence,
  realised performance), JSON and HTML, logged to MLflow.
- ``steps``: one gated promotion step: values file in Git, evidence in the commit, aliases moved.
- ``webhooks`` / ``hook``: MLflow webhooks verified and turned into the matching step.

docs/promotion.md describes the workflow, the gates and the event table.
"""
