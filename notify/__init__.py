"""Notifications as a pure library: channels (Twilio SMS/voice, log), templates, TwiML, signatures.

Nothing here imports ``dispatch`` or touches a database: callers pass plain values and get plain
values back, so the library is testable against the local fake Twilio server alone.
"""
