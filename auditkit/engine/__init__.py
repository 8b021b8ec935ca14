"""Engine: the verdict. NSG records become the rules table; rules are parsed into intervals; a
finding is a custom inbound Allow that admits TCP on an audited port from the whole internet and
that no earlier Deny hides. ``reference`` is a slow per-packet oracle for the tests."""
