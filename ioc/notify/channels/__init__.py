"""Delivery channels behind one interface (see base.py)."""
