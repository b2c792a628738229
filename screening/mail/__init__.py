"""The mail outbox (SPEC §10, §13): every mail the service sends, queued with what caused
it and sent by the worker, retried until it goes."""
