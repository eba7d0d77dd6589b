SELECT successful_charges, survey_answers FROM {model_input_audit} WHERE ds = %(day)s
