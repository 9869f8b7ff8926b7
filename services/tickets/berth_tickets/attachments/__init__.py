"""Files on tickets: checked on their content, kept behind a storage interface, served only
as downloads to the people who may see the ticket."""
