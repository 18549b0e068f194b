"""LLRP (EPCglobal Low Level Reader Protocol 1.0.1 / ISO/IEC 24791-5): the sans-IO codec
(:mod:`drivers.llrp.codec`, :mod:`drivers.llrp.messages`, :mod:`drivers.llrp.params`) and the
UHF reader driver (:mod:`drivers.llrp.reader`)."""
