"""Telling the SRE's stack what chaos is doing: Prometheus (through a Pushgateway) and chat (webhooks).

Nothing here may slow the safety path: every message goes through an :class:`~chaosrunner.notify.outbox.Outbox`
— a bounded queue drained by one background thread, each send with a short timeout — so a slow or failing
endpoint never delays an abort or a rollback. A failed send is logged and dropped.
"""
