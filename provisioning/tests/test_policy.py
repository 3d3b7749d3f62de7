"""provisioning/policy.py: the one way policy documents are written and compared."""
import json

from provisioning.policy import allow, as_policy, canonical, document, trust


def test_a_document_is_versioned_with_an_optional_id_and_its_statements_in_order():
    first, second = allow("A", ["s3:PutObject", "s3:GetObject"], ["b", "a"]), allow("B", ["x:Y"], "*")
    assert document(first, second) == {"Version": "2012-10-17", "Statement": [first, second]}
    assert document(first, id="key-policy")["Id"] == "key-policy"
    assert first["Action"] == ["s3:GetObject", "s3:PutObject"] and first["Resource"] == ["a", "b"]
    assert "Condition" not in first and allow("C", ["x:Y"], "*", {"Bool": {"k": "v"}})["Condition"]


def test_trust_names_the_service_and_guards_the_account_when_asked():
    plain = trust("ec2.amazonaws.com")["Statement"][0]
    assert plain["Principal"] == {"Service": "ec2.amazonaws.com"} and "Condition" not in plain
    guarded = trust("lambda.amazonaws.com", "123456789012")["Statement"][0]
    assert guarded["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_documents_compare_the_same_as_json_strings_and_dicts_in_any_key_order():
    doc = document(allow("A", ["x:Y"], "*"))
    shuffled = json.dumps({"Statement": doc["Statement"], "Version": doc["Version"]})
    assert as_policy(shuffled) == doc and canonical(shuffled) == canonical(doc)
    assert canonical(doc) != canonical(document(allow("A", ["x:Z"], "*")))
