"""The run/create flags of a container's life under its monitor:
--restart (fastctr.engine.restart), --health-* and the image's HEALTHCHECK
(fastctr.engine.health), --log-driver/--log-opt (fastctr.engine.logopts).
Imported only when one of them is used."""


def records(opts, image_health):
    """The record keys they give, checked before anything exists."""
    extra = {}
    if opts.log_driver or opts.log_opts:
        from fastctr.engine.logopts import log_record
        extra.update(log_record(opts))
    if image_health or opts.health:
        from fastctr.engine.health import health_record
        extra.update(health_record(opts, image_health))
    if opts.restart is not None:
        from fastctr.engine.restart import parse_policy
        extra.update(restart_policy=parse_policy(opts.restart, auto_remove=opts.rm), restart_count=0)
    return extra
