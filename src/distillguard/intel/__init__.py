"""Intelligence sharing: STIX 2.1 / TAXII 2.1 / MISP export and import, and the retro-hunt of partners' indicators."""
