"""The phantom radiograph: anatomy geometry, bones, lesions, film markers, rendered as one film."""
