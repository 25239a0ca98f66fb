"""The applications of chapter 6, one module each: question answering, recommendation, NER, translation."""
