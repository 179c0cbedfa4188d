"""Telephony setup on the LiveKit server: SIP trunks and dispatch rules."""
