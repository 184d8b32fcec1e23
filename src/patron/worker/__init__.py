"""Background work that follows the change log: segment membership (later journeys, webhooks)."""
