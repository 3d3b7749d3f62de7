"""Recipes more than one layer builds: the KMS key, the log group, the IAM role and instance
profile, the generated secret and the Lambda function from a zip."""
