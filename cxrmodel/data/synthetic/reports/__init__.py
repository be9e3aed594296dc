"""IU-style free-text reports for synthetic studies: the phrase bank and the writer."""
