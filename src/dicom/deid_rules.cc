// The attribute rules of the de-identification (PS3.15 Annex E, Table E.1-1, Basic Profile
// column): which standard attributes are removed (X) or emptied (Z) by tag. Rules by value
// representation (every PN, UI, DA, DT, TM) live in deidentify.cc. Where the table allows a
// choice (X/Z, X/D, Z/D) the strictest one the IOD tolerates is taken: X for type 3 attributes,
// Z for type 2 ones.
#include <dcmtk/dcmdata/dcdeftag.h>

#include <algorithm>
#include <array>
#include <utility>

#include "dicom/internal.h"

namespace imgpipe::dicom::internal {
namespace {

constexpr DeidAction X = DeidAction::kRemove;
constexpr DeidAction Z = DeidAction::kEmpty;

struct Rule {
  DcmTagKey tag;
  DeidAction action;
};

const Rule kRules[] = {
    // Patient. PatientName and PatientID are emptied wherever they occur (a nested copy would
    // leak) and then set at the top level from the options.
    {DCM_PatientID, Z},
    {DCM_PatientBirthDate, Z},
    {DCM_PatientSex, Z},
    {DCM_IssuerOfPatientID, X},
    {DCM_IssuerOfPatientIDQualifiersSequence, X},
    {DCM_PatientBirthTime, X},
    {DCM_PatientInsurancePlanCodeSequence, X},
    {DCM_PatientPrimaryLanguageCodeSequence, X},
    {DCM_RETIRED_OtherPatientIDs, X},
    {DCM_OtherPatientNames, X},
    {DCM_OtherPatientIDsSequence, X},
    {DCM_ReferencedPatientAliasSequence, X},
    {DCM_PatientBirthName, X},
    {DCM_PatientAge, X},
    {DCM_PatientSize, X},
    {DCM_PatientWeight, X},
    {DCM_PatientAddress, X},
    {DCM_RETIRED_InsurancePlanIdentification, X},
    {DCM_PatientMotherBirthName, X},
    {DCM_MilitaryRank, X},
    {DCM_BranchOfService, X},
    {DCM_RETIRED_MedicalRecordLocator, X},
    {DCM_ReferencedPatientPhotoSequence, X},
    {DCM_MedicalAlerts, X},
    {DCM_Allergies, X},
    {DCM_CountryOfResidence, X},
    {DCM_RegionOfResidence, X},
    {DCM_PatientTelephoneNumbers, X},
    {DCM_PatientTelecomInformation, X},
    {DCM_EthnicGroup, X},
    {DCM_Occupation, X},
    {DCM_SmokingStatus, X},
    {DCM_AdditionalPatientHistory, X},
    {DCM_PregnancyStatus, X},
    {DCM_LastMenstrualDate, X},
    {DCM_PatientReligiousPreference, X},
    {DCM_PatientSexNeutered, X},
    {DCM_ResponsiblePerson, X},
    {DCM_ResponsibleOrganization, X},
    {DCM_PatientComments, X},
    {DCM_ReferencedPatientSequence, X},
    {DCM_PatientState, X},
    {DCM_PatientInstitutionResidence, X},
    {DCM_SpecialNeeds, X},
    {DCM_PatientTransportArrangements, X},
    // Visit and admission.
    {DCM_AdmissionID, X},
    {DCM_IssuerOfAdmissionIDSequence, X},
    {DCM_RETIRED_DischargeDiagnosisDescription, X},
    {DCM_CurrentPatientLocation, X},
    {DCM_ServiceEpisodeID, X},
    {DCM_ServiceEpisodeDescription, X},
    {DCM_VisitComments, X},
    {DCM_AdmittingDiagnosesDescription, X},
    {DCM_AdmittingDiagnosesCodeSequence, X},
    // Study, request and order.
    {DCM_AccessionNumber, Z},
    {DCM_IssuerOfAccessionNumberSequence, X},
    {DCM_StudyID, Z},
    {DCM_StudyDescription, X},
    {DCM_ReferringPhysicianAddress, X},
    {DCM_ReferringPhysicianTelephoneNumbers, X},
    {DCM_ReferringPhysicianIdentificationSequence, X},
    {DCM_ConsultingPhysicianName, X},
    {DCM_ConsultingPhysicianIdentificationSequence, X},
    {DCM_PhysiciansOfRecord, X},
    {DCM_PhysiciansOfRecordIdentificationSequence, X},
    {DCM_NameOfPhysiciansReadingStudy, X},
    {DCM_PhysiciansReadingStudyIdentificationSequence, X},
    {DCM_ReferencedStudySequence, X},
    {DCM_ReferencedPerformedProcedureStepSequence, X},
    {DCM_RequestingPhysician, X},
    {DCM_RequestingService, X},
    {DCM_RequestedProcedureDescription, X},
    {DCM_RequestedContrastAgent, X},
    {DCM_RETIRED_StudyComments, X},
    {DCM_RETIRED_ReasonForStudy, X},
    {DCM_RequestAttributesSequence, X},
    {DCM_RequestedProcedureID, X},
    {DCM_ReasonForTheRequestedProcedure, X},
    {DCM_RequestedProcedureComments, X},
    {DCM_PlacerOrderNumberImagingServiceRequest, Z},
    {DCM_FillerOrderNumberImagingServiceRequest, Z},
    {DCM_OrderEnteredBy, X},
    {DCM_OrderEntererLocation, X},
    {DCM_OrderCallbackPhoneNumber, X},
    {DCM_ImagingServiceRequestComments, X},
    {DCM_ScheduledProcedureStepID, X},
    {DCM_ScheduledProcedureStepDescription, X},
    {DCM_ScheduledProcedureStepLocation, X},
    {DCM_ScheduledPerformingPhysicianName, X},
    {DCM_ScheduledStationName, X},
    {DCM_ScheduledStationAETitle, X},
    {DCM_ScheduledHumanPerformersSequence, X},
    {DCM_PerformedProcedureStepID, X},
    {DCM_PerformedProcedureStepDescription, X},
    {DCM_PerformedStationAETitle, X},
    {DCM_PerformedStationName, X},
    {DCM_PerformedLocation, X},
    {DCM_ActualHumanPerformersSequence, X},
    {DCM_HumanPerformerName, X},
    {DCM_HumanPerformerOrganization, X},
    // Series, equipment and people at the scanner.
    {DCM_SeriesDescription, X},
    {DCM_ProtocolName, X},
    {DCM_OperatorsName, X},
    {DCM_OperatorIdentificationSequence, X},
    {DCM_PerformingPhysicianName, X},
    {DCM_PerformingPhysicianIdentificationSequence, X},
    {DCM_InstitutionName, X},
    {DCM_InstitutionAddress, X},
    {DCM_InstitutionCodeSequence, X},
    {DCM_InstitutionalDepartmentName, X},
    {DCM_InstitutionalDepartmentTypeCodeSequence, X},
    {DCM_StationName, X},
    {DCM_DeviceSerialNumber, X},
    {DCM_DeviceDescription, X},
    {DCM_PlateID, X},
    {DCM_GeneratorID, X},
    {DCM_CassetteID, X},
    {DCM_GantryID, X},
    {DCM_DetectorID, X},
    {DCM_SoftwareVersions, X},
    {DCM_AcquisitionDeviceProcessingDescription, X},
    {DCM_TimezoneOffsetFromUTC, X},
    // Free text that may carry identity.
    {DCM_RETIRED_IdentifyingComments, X},
    {DCM_DerivationDescription, X},
    {DCM_ImageComments, X},
    {DCM_FrameComments, X},
    {DCM_RETIRED_AcquisitionComments, X},
    {DCM_RETIRED_ImagePresentationComments, X},
    {DCM_RETIRED_TextComments, X},
    {DCM_ContrastBolusAgent, Z},
    {DCM_AcquisitionContextSequence, X},
    // Structured and other content that may hold anything.
    {DCM_ContentSequence, X},
    {DCM_ContentCreatorName, Z},
    {DCM_ContentCreatorIdentificationCodeSequence, X},
    {DCM_VerifyingOrganization, X},
    {DCM_PersonAddress, X},
    {DCM_PersonTelephoneNumbers, X},
    {DCM_ReviewerName, X},
    {DCM_IconImageSequence, X},
    {DCM_StorageMediaFileSetID, X},
    {DCM_OriginalAttributesSequence, X},
    {DCM_ModifiedAttributesSequence, X},
    {DCM_EncryptedAttributesSequence, X},
    {DCM_MACParametersSequence, X},
    {DCM_DigitalSignaturesSequence, X},
    {DCM_DataSetTrailingPadding, X},
};

// UI attributes whose values name classes, transfer syntaxes or coding schemes (defined outside
// the 1.2.840.10008 root by third parties, e.g. SNOMED's 2.16.840.1.113883.6.96), never instances.
const DcmTagKey kClassUidTags[] = {
    DCM_SOPClassUID,
    DCM_ReferencedSOPClassUID,
    DCM_MediaStorageSOPClassUID,
    DCM_TransferSyntaxUID,
    DCM_ReferencedSOPClassUIDInFile,
    DCM_ReferencedTransferSyntaxUIDInFile,
    DCM_RelatedGeneralSOPClassUID,
    DCM_OriginalSpecializedSOPClassUID,
    DCM_SOPClassesInStudy,
    DCM_CodingSchemeUID,
    DCM_ContextUID,
    DCM_MappingResourceUID,
    DCM_ContextGroupExtensionCreatorUID,
    DCM_PrivateRecordUID,
};

}  // namespace

DeidAction DeidActionFor(const DcmTagKey& tag) {
  const Uint16 group = tag.getGroup();
  if ((group & 0xFF00) == 0x5000) return X;                                // curves (retired)
  if ((group & 0xFF00) == 0x6000 && tag.getElement() == 0x4000) return X;  // overlay comments
  for (const Rule& rule : kRules) {
    if (rule.tag == tag) return rule.action;
  }
  return DeidAction::kKeep;
}

bool IsClassUidTag(const DcmTagKey& tag) {
  return std::find(std::begin(kClassUidTags), std::end(kClassUidTags), tag) !=
         std::end(kClassUidTags);
}

}  // namespace imgpipe::dicom::internal
