"""GetModelStatus and GetModelMetadata responses, shared by REST and gRPC."""
from __future__ import annotations

from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, model_pb2

from serving import errors
from serving.model_registry import ModelRegistry

SIGNATURE_DEF_FIELD = "signature_def"


def get_model_status(registry: ModelRegistry, spec: model_pb2.ModelSpec) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatusWithModelSpec: a version when one is given, else every version (a label alone selects all)."""
    version = spec.version.value if spec.HasField("version") else None
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, status in registry.version_statuses(spec.name, version):
        entry = response.model_version_status.add(version=number)
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(status.state)
        entry.status.error_code = status.error_code.value[0]
        entry.status.error_message = status.error_message
    return response


def get_model_metadata(
    registry: ModelRegistry, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadataImpl: only the `signature_def` field is supported, as in TF Serving."""
    if not request.HasField("model_spec"):
        raise errors.invalid_argument("Missing ModelSpec")
    if not request.metadata_field:
        raise errors.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise errors.invalid_argument(f"Metadata field {field} is not supported")
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    with registry.lease(request.model_spec) as servable:
        signature_defs = get_model_metadata_pb2.SignatureDefMap()
        for name, signature in servable.signature_defs.items():
            signature_defs.signature_def[name].CopyFrom(signature)
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
    response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_defs)
    return response


def status_json(response: get_model_status_pb2.GetModelStatusResponse) -> str:
    """The REST body: proto JSON with default fields printed."""
    return json_format.MessageToJson(response, including_default_value_fields=True, indent=1)


def metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> str:
    """The REST body, assembled like TF Serving's ToJsonString (proto field names kept)."""
    signature_defs = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_defs)

    def to_json(message) -> str:
        return json_format.MessageToJson(
            message, including_default_value_fields=True, preserving_proto_field_name=True, indent=1)

    return ('{\n"model_spec":' + to_json(response.model_spec) + ",\n"
            + '"metadata": {"signature_def": ' + to_json(signature_defs) + "}\n}\n")
