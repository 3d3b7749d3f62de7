"""The SNS -> Lambda events the verification Lambda gets, as AWS shapes them (tests' helper)."""
import json

SENDER = "no-reply@cloudsite.example.com"


def sns_record(message, message_id="95df01b4-ee98-5cb9-9903-4c221d41eb5e"):
    """One record of the SNS -> Lambda event, shaped as in the AWS Lambda developer guide."""
    body = message if isinstance(message, str) else json.dumps(message)
    return {
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:verification:21be56ed-a058-49f5"
                                "-8c98-aedd2564c486",
        "EventSource": "aws:sns",
        "Sns": {
            "SignatureVersion": "1", "Timestamp": "2026-11-26T12:45:07.000Z",
            "Signature": "tcc6faL2yUC6dgZdmrwh1Y4cGa/ebXEkAi6RibDsvpi+tE/1+82j...65r==",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-ac5"
                              "65b8b1a6c5d002d285f9598aa1d9b.pem",
            "MessageId": message_id, "Message": body, "MessageAttributes": {},
            "Type": "Notification",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:verification", "Subject": None,
        },
    }
