"""ISO 15693 library tags on PC/SC desktop readers (ACS and HID OMNIKEY families).

``create_reader("pcsc15693", "pcsc15693://<reader name>?family=acs")`` gives a
:class:`drivers.reader.Reader`; see docs/desktop-readers.md. Modules: ``base`` (the shared
PC/SC part 3 logic), ``acs`` and ``omnikey`` (one per family), ``link`` (pcsc-lite),
``iso15693`` and ``transparent`` (sans-IO frames). Importing this package imports no
family module and opens nothing.
"""
