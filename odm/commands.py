"""Former home of the engines' pure builders, now split by concept; the unit of work's old
imports still resolve here until it imports the new modules (removed then)."""
# ruff: noqa: F401

from odm.engine.base import is_transactions_unsupported, supports_transactions
from odm.facts import ModelFacts, check_instance, check_model_class, model_facts
from odm.index_planning import index_models, index_plan
from odm.loading import instance_from_document, instances_from_documents, iter_instances
from odm.query_compiler import (
    FindRequest,
    SortArg,
    compile_filter,
    compile_sort,
    find_request,
    lookup_stages,
)
from odm.saving import (
    SaveOperation,
    WriteKind,
    delete_filter,
    mark_saved,
    save_operation,
    save_operations,
    write_call,
    write_requests,
)
from odm.write_errors import DUPLICATE_KEY, translate_write_error
