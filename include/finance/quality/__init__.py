"""Quality gates and the model table's input, what `finance_elt` checks between its load and its dataset event:
what each gate asserts and what a failing one says (`gates`), the gates and sensors as operators the DAG files
place (`gate_operators`), and what the model table leaves out of the loaded rows, counted (`model_input`)."""
