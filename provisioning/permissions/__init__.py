"""The permission proof: what each runtime actor calls, evaluated against what the stack grants it.

moto enforces no IAM and no KMS permission, so a stack that is green on moto can still fail on a real
account with AccessDenied. ``evaluator`` decides one request against policy documents with IAM's
logic; the recorder and the call-to-action table turn the offline flows' AWS calls into requests.
"""
