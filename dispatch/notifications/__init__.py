"""Notifications: the outbox table, its writer hook, delivery by the job loop, Twilio webhooks.

The outbox writer (``outbox.write_outbox``) is an event hook registered explicitly on the
application's session factory by ``dispatch.app.create_app`` (``dispatch.events.register_hook``);
importing this package registers nothing.
"""
