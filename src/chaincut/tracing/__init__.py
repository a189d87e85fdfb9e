"""Contact tracing: infectious windows, the overlap engine, orders and follow-up."""
