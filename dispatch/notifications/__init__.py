"""Notifications: the outbox table, its writer hook, delivery by the job loop, Twilio webhooks.

Importing the package registers the outbox hook on ``dispatch.events.EVENT_HOOKS`` (the models
registry ``dispatch.all_models`` and the job loop both import it, so every process that writes
events writes the outbox too).
"""

from dispatch.notifications import outbox

outbox.install()
