"""``credit-scoring promotion-hook``: MLflow webhooks -> promotion branches (promotion.hook)."""

from __future__ import annotations

from cli.commands._settings import fail, tracking_uri, training_settings

__all__ = ["promotion_hook_command"]


def promotion_hook_command() -> None:
    """Serve POST /webhook: verify MLflow's signature, run the matching promotion step, push its branch.

    Configured by CREDIT_PROMOTION_HOOK_* (secret, clone URL, port) and CREDIT_PROMOTION_*."""
    from pydantic import ValidationError

    from promotion.settings import HookSettings, PromotionSettings
    from promotion.wiring import context, run_hook

    try:
        settings = PromotionSettings()
        hook_settings = HookSettings()  # type: ignore[call-arg]  # the secret comes from the environment
    except ValidationError as exc:
        raise fail(f"invalid settings: {exc}") from exc
    with tracking_uri(training_settings()) as uri, context(settings, uri) as ctx:
        run_hook(ctx, hook_settings)
