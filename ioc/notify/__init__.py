"""Duty-officer notifications: roster, escalation, channels (Zalo ZNS, SMS, webhook), delivery."""
