"""Payments at the kiosk: the VietQR payload codec (:mod:`edge.payments.vietqr`) and the
``smartlib pay`` command group (:mod:`edge.payments.cli`).

Nothing here talks to a bank or stores a card or bank credential: the codec builds and
reads the text a banking app scans; confirmation of a payment arrives elsewhere.
"""
