"""The real LRS ExternalService contract's types (the invoking User, an Achievement record, the batch job
responses): same names, namespaces and element order as the LRS has them."""

from __future__ import annotations

from spyne import ComplexModel, DateTime, Float, Integer, Integer32, Unicode

from lrs_ws.soap.namespaces import MODEL_NS, SERVICES_NS


class User(ComplexModel):
    """The invoking user: WCF's alphabetical order, in the model namespace."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("OrgPassword", Unicode(max_len=256)),
        ("OrganisationRef", Unicode(max_len=20)),
        ("UserName", Unicode(max_len=100)),
    ]


_MANDATORY = {"min_occurs": 1}


class Achievement(ComplexModel):
    """One achievement record of a batch (and of CreateAchievement), in the services namespace.

    String limits here are generous on purpose: a record that breaks a business limit (a 21-character grade)
    must fail on its own, not make the whole request a schema fault.
    """

    __namespace__ = SERVICES_NS
    _type_info = [
        ("AchievementAwardDate", DateTime(min_occurs=1, nillable=False)),
        ("Action", Integer(min_occurs=1, nillable=False)),
        ("ActionDate", DateTime(min_occurs=1, nillable=False)),
        ("ActionReason", Unicode(max_len=1000)),
        ("DateofBirth", DateTime),
        ("FamilyName", Unicode(max_len=255, **_MANDATORY)),
        ("Gender", Integer),
        ("GivenName", Unicode(max_len=255, **_MANDATORY)),
        ("Grade", Unicode(max_len=255)),
        ("LanguageForAssessment", Unicode(max_len=255)),
        ("LearnerPostcode", Unicode(max_len=255)),
        ("MisIdentifier", Unicode(max_len=255)),
        ("ProviderUkprn", Unicode(max_len=255, **_MANDATORY)),
        ("Uln", Unicode(max_len=255, **_MANDATORY)),
        ("UnitOrQualificationReferenceNumber", Unicode(max_len=255, **_MANDATORY)),
    ]


# -- SubmitAchievementBatchJob / GetAchievementBatchJob results (model namespace, the real schema's order) --

AchievementBatchJobStatus = Unicode(
    values=["Failed", "Successful", "Waiting", "InProgress", "Cancelled"],
    type_name="AchievementBatchJobStatus",
    nillable=False,
    __namespace__=MODEL_NS,
)


class ServiceResponseR9(ComplexModel):
    __namespace__ = MODEL_NS
    _type_info = [("ResponseCode", Unicode(max_len=20))]


class SubmitAchievementBatchJobResponse(ServiceResponseR9):
    __namespace__ = MODEL_NS
    _type_info = [("JobId", Integer32(nillable=False))]


class AchievementBatchJobResponse(ServiceResponseR9):
    """Counts, dates and the error file (CSV) of one batch job; elements in the real schema's order."""

    __namespace__ = MODEL_NS
    _type_info = [
        ("AchievementBatchErrorFile", Unicode),
        ("AchievementsCreated", Integer32),
        ("AchievementsPromotedToFinal", Integer32),
        ("AchievementsReinstated", Integer32),
        ("AchievementsUpdated", Integer32),
        ("AchievementsWithdrawn", Integer32),
        ("BusinessRuleErrors", Integer32),
        ("Duration", Unicode(max_len=40)),
        ("EndDate", DateTime),
        ("FieldDataErrors", Integer32),
        ("Filename", Unicode(max_len=255)),
        ("JobID", Integer32(nillable=False)),
        ("LearnerDataErrors", Integer32),
        ("NumberOfRecords", Integer32),
        ("PercentageSuccessfulRecords", Float),
        ("RejectionReason", Unicode(max_len=1000)),
        ("StartDate", DateTime),
        ("Status", AchievementBatchJobStatus),
        ("SubmittedDate", DateTime),
        ("SuccessfulFinalAchievements", Integer32),
        ("SuccessfulProvisionalAchievements", Integer32),
        ("Type", Unicode(max_len=20)),
        ("User", Unicode(max_len=100)),
    ]
