"""Border reopening: quota-controlled crossings booked by checkpoint, day and slot, or drawn by ballot."""

from chaincut.border.ballot import DrawOutcome, draw_ballot
from chaincut.border.bookings import BookingService
from chaincut.border.types import BookingRequest

__all__ = ["BookingRequest", "BookingService", "DrawOutcome", "draw_ballot"]
