"""French labels of the service's own codes: statuses, phases, roles, plans, severities,
failures.

One catalogue for every place a person reads them (pages, the page's script through the
template, the CLI, exports, e-mails). Rule and scenario titles live with the rules, in
`validateur.validation.catalogue`.
"""

from __future__ import annotations

from validateur.models import BatchStatus, FailureCategory, Phase, Plan, Role, RunStatus
from validateur.validation.findings import Severity

STATUS: dict[str, str] = {
    RunStatus.QUEUED: "En file d'attente",
    RunStatus.PROCESSING: "En cours",
    RunStatus.COMPLETED: "Terminée",
    RunStatus.FAILED: "Échouée",
    RunStatus.CANCELLED: "Annulée",
}

#: A batch (« un lot ») is masculine; « Terminé en partie »: some files failed or were cancelled.
BATCH_STATUS: dict[str, str] = {
    BatchStatus.QUEUED: "En file d'attente",
    BatchStatus.PROCESSING: "En cours",
    BatchStatus.COMPLETED: "Terminé",
    BatchStatus.PARTIAL: "Terminé en partie",
    BatchStatus.FAILED: "Échoué",
    BatchStatus.CANCELLED: "Annulé",
}

PHASE: dict[str, str] = {
    Phase.QUEUED: "en attente",
    Phase.PARSING: "lecture et enregistrement",
    Phase.VALIDATING: "application des règles",
    Phase.SAVING: "enregistrement des constats",
    Phase.DONE: "terminé",
}

ROLE: dict[str, str] = {
    Role.VIEWER: "lecteur",
    Role.EDITOR: "éditeur",
    Role.MANAGER: "gestionnaire",
    Role.ADMIN: "administrateur",
}

PLAN: dict[str, str] = {
    Plan.STANDARD: "standard",
    Plan.PRIORITY: "prioritaire",
}

#: One finding of a severity, and several (headings, counts).
SEVERITY: dict[str, str] = {
    Severity.ERROR: "Erreur",
    Severity.WARNING: "Avertissement",
    Severity.OPTIMIZATION: "Optimisation",
    Severity.INFO: "Information",
}
SEVERITY_PLURAL: dict[str, str] = {
    Severity.ERROR: "Erreurs",
    Severity.WARNING: "Avertissements",
    Severity.OPTIMIZATION: "Optimisations",
    Severity.INFO: "Informations",
}

CATEGORY: dict[str, str] = {
    FailureCategory.UNREADABLE_FILE: "Fichier illisible",
    FailureCategory.MISSING_COLUMNS: "Colonnes manquantes",
    FailureCategory.FILE_MISSING: "Fichier introuvable",
    FailureCategory.INTERRUPTED: "Traitement interrompu",
    FailureCategory.TECHNICAL: "Erreur technique",
}


def label(catalogue: dict[str, str], code: str | None) -> str:
    """The label of `code` in `catalogue`, or the code itself when it has none."""
    if code is None:
        return ""
    return catalogue.get(code, code)

#: Notification events (webhooks' subscriptions and deliveries), as a manager reads them.
EVENT: dict[str, str] = {
    "validation.completed": "Validation terminée",
    "validation.failed": "Validation échouée",
    "validation.cancelled": "Validation annulée",
    "batch.completed": "Lot terminé",
    "webhook.test": "Événement de test",
}

DELIVERY_STATE: dict[str, str] = {
    "pending": "en attente",
    "delivered": "livrée",
    "failed": "échouée",
}

#: The e-mail preference's choices (« Préférences »).
NOTIFY_EMAIL: dict[str, str] = {
    "never": "Jamais",
    "failures": "Seulement quand une validation ou un lot échoue",
    "always": "À la fin de chaque validation ou de chaque lot",
}
