// MakeDemoDataset: synthetic but plausible studies, built with DCMTK and serialised in memory.
//
// Three studies of two patients: a CT chest series (signed 16-bit, Hounsfield units via
// RescaleIntercept -1024), an MR brain series (unsigned 12-in-16-bit, T1-like contrast) and a
// chest radiograph (DX, 12-in-16-bit). Anatomy is a handful of ellipses whose sizes vary smoothly
// with the slice position, plus a deterministic hash noise, so scrolling a series looks real and
// the whole dataset is built in well under a second. UIDs are fresh on every call (2.25 root).
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/uid.h"
#include "dicom/dicom.h"
#include "dicom/internal.h"

namespace imgpipe::dicom {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Deterministic noise in [-1, 1] from integer coordinates (a small integer hash).
double Noise(uint32_t x, uint32_t y, uint32_t z) {
  uint32_t h = x * 374761393u + y * 668265263u + z * 2246822519u;
  h = (h ^ (h >> 13)) * 1274126177u;
  h ^= h >> 16;
  return static_cast<double>(h & 0xFFFF) / 32767.5 - 1.0;
}

// Inside test of the ellipse centred at (cx, cy) with semi-axes (ax, ay): < 1 inside.
double Ell(double x, double y, double cx, double cy, double ax, double ay) {
  const double dx = (x - cx) / ax;
  const double dy = (y - cy) / ay;
  return dx * dx + dy * dy;
}

// Per-slice geometry of the chest phantom, computed once per slice so the per-pixel work is a few
// ellipse tests (trigonometry per pixel made the dataset several times slower).
struct ChestSlice {
  double t = 0;  // 0 at the apex, 1 at the diaphragm
  double rib_x[13], rib_y[13];
  int ribs = 0;
  double heart = 0, lung = 0;
  std::vector<double> wave_x, wave_y;  // low-frequency texture and vessel pattern, per column/row
  std::vector<double> vessel_x, vessel_y;
};

ChestSlice MakeChestSlice(double t, int n, double spacing) {
  ChestSlice cs;
  cs.t = t;
  // Ribs: small bony ovals around the inner chest wall (not at the spine), the ring turning
  // slightly along z as ribs run obliquely.
  for (int k = 0; k < 13; ++k) {
    const double a = (15 + 25 * k) * kPi / 180 + 0.15 * t;
    if (std::fabs(std::sin(a) - 1) < 0.05) continue;
    cs.rib_x[cs.ribs] = 140 * std::cos(a);
    cs.rib_y[cs.ribs++] = 5 + 94 * std::sin(a);
  }
  // Heart appears below the first third and grows; lungs are largest mid-chest.
  cs.heart = std::clamp((t - 0.3) / 0.4, 0.0, 1.0) * std::sin(kPi * t);
  cs.lung = 0.55 + 0.45 * std::sin(kPi * (0.1 + 0.85 * t));
  for (int i = 0; i < n; ++i) {
    const double v = (i - n / 2 + 0.5) * spacing;
    cs.wave_x.push_back(std::sin(v / 9.0));
    cs.wave_y.push_back(std::cos(v / 11.0));
    cs.vessel_x.push_back(std::sin(v / 6 + 3 * t));
    cs.vessel_y.push_back(std::sin(v / 7 - 2 * t));
  }
  return cs;
}

// Hounsfield value of the chest phantom at (x, y) mm from the image centre (LPS: +x patient
// left, +y posterior); (px, py, pz) are the voxel indices.
double ChestHu(const ChestSlice& cs, double x, double y, uint32_t px, uint32_t py, uint32_t pz) {
  const double noise = 8.0 * Noise(px, py, pz);
  if (Ell(x, y, 0, 5, 165, 115) >= 1) return -1000 + 4.0 * Noise(px, py, pz + 977);
  if (Ell(x, y, 0, 5, 153, 104) >= 1) return -100 + noise;  // subcutaneous fat
  // Spine: vertebral body (cortex + cancellous bone), the canal and the arch behind it.
  const double vb = Ell(x, y, 0, 72, 19, 16);
  if (vb < 1) return vb > 0.75 ? 1150 + 40 * Noise(px, py, pz + 5) : 700 + 3 * noise;
  if (Ell(x, y, 0, 96, 8, 7) < 1) return 10 + noise;
  const double arch = Ell(x, y, 0, 98, 22, 15);
  if (arch < 1 && arch > 0.45) return 900 + 3 * noise;
  if (Ell(x, y, 0, 5, 128, 86) >= 1) {  // only near the wall: skip the loop inside
    for (int k = 0; k < cs.ribs; ++k) {
      if (Ell(x, y, cs.rib_x[k], cs.rib_y[k], 7, 4.5) < 1) return 950 + 3 * noise;
    }
  }
  if (Ell(x, y, 0, -94, 13, 6) < 1) return 800 + 3 * noise;  // sternum
  // Aorta: descending beside the spine throughout, ascending in the upper slices.
  if (Ell(x, y, -22, 50, 12, 12) < 1) return 210 + noise;
  if (cs.t < 0.55 && Ell(x, y, 8, -18, 15, 15) < 1) return 205 + noise;
  if (cs.heart > 0.05) {  // contrast-filled chambers inside the myocardium
    const double hx = 70 * cs.heart + 5, hy = 55 * cs.heart + 5;
    if (Ell(x, y, 30, -30, 0.45 * hx, 0.45 * hy) < 1) return 200 + noise;
    if (Ell(x, y, 25, -25, hx, hy) < 1) return 45 + noise;
  }
  for (double side : {-1.0, 1.0}) {
    if (Ell(x, y, side * 78, -2, 55 * cs.lung, 80 * cs.lung) < 1) {
      const double vessel = cs.vessel_x[px] * cs.vessel_y[py] > 0.97 ? 700 : 0;
      return -830 + 25 * Noise(px, py, pz + 31) + vessel;
    }
  }
  // Soft tissue with a gentle low-frequency texture.
  return 40 + noise + 4 * cs.wave_x[px] * cs.wave_y[py];
}

// T1-like brain phantom signal (0..4095) at (x, y) mm, t in [0, 1] from bottom to top slice.
double BrainSignal(double x, double y, double t, uint32_t px, uint32_t py, uint32_t pz) {
  const double s = std::sqrt(std::max(0.0, 1 - std::pow(2 * t - 1.1, 2)));  // sphere-like section
  const double noise = 15 * Noise(px, py, pz);
  const double head = Ell(x, y, 0, 0, 75 * s + 10, 92 * s + 12);
  if (head >= 1) return 12 + 10 * std::fabs(Noise(px, py, pz + 3));  // air: Rician-ish floor
  if (head > 0.86) return 1150 + noise;                              // scalp fat
  if (head > 0.74) return 60 + noise;                                // skull
  const double a = std::atan2(y, x);
  const double gyri = 1 + 0.04 * std::sin(14 * a + 9 * t) + 0.02 * std::sin(31 * a);
  const double brain = Ell(x, y, 0, 0, (66 * s + 6) * gyri, (82 * s + 8) * gyri);
  if (brain >= 1) return 250 + noise;  // CSF over the convexity
  // Lateral ventricles: mid slices only.
  const double v = std::clamp(1 - std::fabs(t - 0.55) / 0.2, 0.0, 1.0);
  if (v > 0) {
    for (double side : {-1.0, 1.0}) {
      if (Ell(x, y, side * 9, -5, 6 * v, 24 * v) < 1) return 230 + noise;
    }
  }
  if (brain > 0.62) return 620 + noise;  // cortex (grey matter)
  if (v > 0 && Ell(x, y, 0, 4, 22, 12) < 1 && Ell(x, y, 0, 4, 22, 12) > 0.5) return 640 + noise;
  return 900 + noise;  // white matter
}

// Chest radiograph (PA, MONOCHROME2): direct exposure dark, bone bright; (x, y) in mm.
double ChestXray(double x, double y, uint32_t px, uint32_t py) {
  const double noise = 18 * Noise(px, py, 11);
  const double body = Ell(x, y, 0, 40, 165, 240);
  if (body >= 1) return 180 + noise;
  double v = 1900 + 250 * (1 - body);  // soft tissue, thicker centrally
  for (double side : {-1.0, 1.0}) {
    const double lung = Ell(x, y, side * 72, -10, 58, 130);
    if (lung < 1) v -= 950 * std::sqrt(1 - lung);
    // Ribs: parabolic arcs across each lung field.
    for (int i = 0; i < 9; ++i) {
      const double y0 = -125 + 28 * i;
      const double arc = y0 + 0.004 * (x - side * 30) * (x - side * 30) * side * side;
      if (side * x > 8 && side * x < 140 && std::fabs(y - arc) < 5) v += 380;
    }
    // Clavicles.
    if (side * x > 10 && side * x < 130 && std::fabs(y + 150 - 0.18 * side * x) < 7) v += 500;
  }
  if (std::fabs(x) < 16) v += 700;                     // spine
  if (Ell(x, y, 22, 60, 62, 55) < 1) v += 320;         // heart
  if (y > 115) v += std::min(600.0, (y - 115) * 8.0);  // diaphragm / abdomen
  return std::clamp(v + noise, 0.0, 4095.0);
}

struct Study {
  std::string uid, date, time, accession, id, description, referring;
};
struct Patient {
  std::string name, id, birth_date, sex;
};
struct Series {
  std::string uid, frame_of_reference, modality, description, body_part;
  int number = 0;
};

void PutCommon(DcmDataset& ds, const Patient& p, const Study& st, const Series& se) {
  ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 100");
  ds.putAndInsertString(DCM_PatientName, p.name.c_str());
  ds.putAndInsertString(DCM_PatientID, p.id.c_str());
  ds.putAndInsertString(DCM_PatientBirthDate, p.birth_date.c_str());
  ds.putAndInsertString(DCM_PatientSex, p.sex.c_str());
  ds.putAndInsertString(DCM_StudyInstanceUID, st.uid.c_str());
  ds.putAndInsertString(DCM_StudyDate, st.date.c_str());
  ds.putAndInsertString(DCM_StudyTime, st.time.c_str());
  ds.putAndInsertString(DCM_ContentDate, st.date.c_str());
  ds.putAndInsertString(DCM_ContentTime, st.time.c_str());
  ds.putAndInsertString(DCM_AccessionNumber, st.accession.c_str());
  ds.putAndInsertString(DCM_StudyID, st.id.c_str());
  ds.putAndInsertString(DCM_StudyDescription, st.description.c_str());
  ds.putAndInsertString(DCM_ReferringPhysicianName, st.referring.c_str());
  ds.putAndInsertString(DCM_SeriesInstanceUID, se.uid.c_str());
  ds.putAndInsertString(DCM_FrameOfReferenceUID, se.frame_of_reference.c_str());
  ds.putAndInsertString(DCM_Modality, se.modality.c_str());
  ds.putAndInsertString(DCM_SeriesDescription, se.description.c_str());
  ds.putAndInsertString(DCM_SeriesNumber, std::to_string(se.number).c_str());
  ds.putAndInsertString(DCM_BodyPartExamined, se.body_part.c_str());
  ds.putAndInsertString(DCM_Manufacturer, "imgpipe");
  ds.putAndInsertString(DCM_InstitutionName, "imgpipe demo hospital");
}

// Grey image pixel module; `pixels` are the stored values as 16-bit words.
void PutImage(DcmDataset& ds, int rows, int cols, int bits_stored, bool is_signed,
              const std::vector<uint16_t>& pixels) {
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rows));
  ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(cols));
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(bits_stored));
  ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(bits_stored - 1));
  ds.putAndInsertUint16(DCM_PixelRepresentation, is_signed ? 1 : 0);
  ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                             static_cast<unsigned long>(pixels.size()));
}

// Serialises `ff`; empty on failure (never expected for these in-memory datasets).
std::string ToPart10(DcmFileFormat& ff) {
  auto bytes = internal::WritePart10(ff, EXS_LittleEndianExplicit);
  return bytes.ok() ? std::move(bytes).value() : std::string();
}

std::string Ds(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Instance number and geometry of axial slice `instance` (from 1) of a square n x n series with
// `spacing` mm pixels, centred on the table axis at height z, patient head first supine.
void PutAxialSlice(DcmDataset& ds, int instance, int n, double spacing, double thickness,
                   double z) {
  ds.putAndInsertString(DCM_InstanceNumber, std::to_string(instance).c_str());
  ds.putAndInsertString(DCM_PatientPosition, "HFS");
  const double origin = -(n / 2 - 0.5) * spacing;
  ds.putAndInsertString(DCM_ImagePositionPatient,
                        (Ds(origin) + "\\" + Ds(origin) + "\\" + Ds(z)).c_str());
  ds.putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  ds.putAndInsertString(DCM_SliceLocation, Ds(z).c_str());
  ds.putAndInsertString(DCM_SliceThickness, Ds(thickness).c_str());
  ds.putAndInsertString(DCM_PixelSpacing, (Ds(spacing) + "\\" + Ds(spacing)).c_str());
}

}  // namespace

std::vector<DemoFile> MakeDemoDataset() {
  auto uid = [] { return core::NewUid(); };
  std::vector<DemoFile> files;

  const Patient jane{"DOE^JANE", "IMG-0001", "19680412", "F"};
  const Patient john{"SMITH^JOHN^A", "IMG-0002", "19551130", "M"};
  const Study ct_study{uid(),
                       "20240311",
                       "093015",
                       "ACC24031101",
                       "CT1001",
                       "CT CHEST WITH CONTRAST",
                       "HOUSE^GREGORY^^DR"};
  const Study dx_study{uid(),    "20240318",        "141200",           "ACC24031807",
                       "DX1002", "XR CHEST 1 VIEW", "HOUSE^GREGORY^^DR"};
  const Study mr_study{uid(),           "20231127", "081545",
                       "ACC23112702",   "MR2001",   "MRI BRAIN WITHOUT CONTRAST",
                       "CUDDY^LISA^^DR"};

  // CT: 30 axial slices, 5 mm apart, 0.7 mm pixels.
  {
    const Series se{uid(), uid(), "CT", "Chest 5.0 mm Soft Tissue", "CHEST", 2};
    constexpr int kSlices = 30, kN = 512;
    constexpr double kSpacing = 0.7, kThickness = 5.0;
    std::vector<uint16_t> px(kN * kN);
    for (int s = 0; s < kSlices; ++s) {
      const double t = s / static_cast<double>(kSlices - 1);
      const double z = -40.0 - s * kThickness;  // head first, moving towards the feet
      const ChestSlice cs = MakeChestSlice(t, kN, kSpacing);
      for (int r = 0; r < kN; ++r) {
        for (int c = 0; c < kN; ++c) {
          const double x = (c - kN / 2 + 0.5) * kSpacing, y = (r - kN / 2 + 0.5) * kSpacing;
          const double hu = ChestHu(cs, x, y, c, r, s);
          px[r * kN + c] = static_cast<uint16_t>(static_cast<int16_t>(std::lround(hu + 1024)));
        }
      }
      DcmFileFormat ff;
      DcmDataset& ds = *ff.getDataset();
      PutCommon(ds, jane, ct_study, se);
      ds.putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
      ds.putAndInsertString(DCM_SOPInstanceUID, uid().c_str());
      ds.putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
      PutAxialSlice(ds, s + 1, kN, kSpacing, kThickness, z);
      ds.putAndInsertString(DCM_KVP, "120");
      ds.putAndInsertString(DCM_ConvolutionKernel, "STANDARD");
      ds.putAndInsertString(DCM_RescaleIntercept, "-1024");
      ds.putAndInsertString(DCM_RescaleSlope, "1");
      ds.putAndInsertString(DCM_RescaleType, "HU");
      ds.putAndInsertString(DCM_WindowCenter, "40\\-600");
      ds.putAndInsertString(DCM_WindowWidth, "400\\1500");
      ds.putAndInsertString(DCM_WindowCenterWidthExplanation, "SOFT TISSUE\\LUNG");
      PutImage(ds, kN, kN, 16, true, px);
      char name[32];
      std::snprintf(name, sizeof name, "ct/slice-%03d.dcm", s + 1);
      files.push_back({name, ToPart10(ff)});
    }
  }

  // MR: 12 axial T1 slices, 256x256, 0.9375 mm pixels, 6 mm apart.
  {
    const Series se{uid(), uid(), "MR", "Ax T1 SE", "HEAD", 3};
    constexpr int kSlices = 12, kN = 256;
    constexpr double kSpacing = 0.9375, kThickness = 6.0;
    std::vector<uint16_t> px(kN * kN);
    for (int s = 0; s < kSlices; ++s) {
      const double t = (s + 0.5) / kSlices;
      const double z = -30.0 + s * kThickness;  // feet to head
      for (int r = 0; r < kN; ++r) {
        for (int c = 0; c < kN; ++c) {
          const double x = (c - kN / 2 + 0.5) * kSpacing, y = (r - kN / 2 + 0.5) * kSpacing;
          px[r * kN + c] = static_cast<uint16_t>(
              std::lround(std::clamp(BrainSignal(x, y, t, c, r, s), 0.0, 4095.0)));
        }
      }
      DcmFileFormat ff;
      DcmDataset& ds = *ff.getDataset();
      PutCommon(ds, john, mr_study, se);
      ds.putAndInsertString(DCM_SOPClassUID, UID_MRImageStorage);
      ds.putAndInsertString(DCM_SOPInstanceUID, uid().c_str());
      ds.putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\M\\ND");
      PutAxialSlice(ds, s + 1, kN, kSpacing, kThickness, z);
      ds.putAndInsertString(DCM_ScanningSequence, "SE");
      ds.putAndInsertString(DCM_SequenceVariant, "NONE");
      ds.putAndInsertString(DCM_RepetitionTime, "500");
      ds.putAndInsertString(DCM_EchoTime, "12");
      ds.putAndInsertString(DCM_MagneticFieldStrength, "1.5");
      ds.putAndInsertString(DCM_WindowCenter, "600");
      ds.putAndInsertString(DCM_WindowWidth, "1200");
      PutImage(ds, kN, kN, 12, false, px);
      char name[32];
      std::snprintf(name, sizeof name, "mr/slice-%03d.dcm", s + 1);
      files.push_back({name, ToPart10(ff)});
    }
  }

  // DX: one PA chest radiograph, 2048 rows x 1536 columns, 0.2 mm detector pixels.
  {
    const Series se{uid(), uid(), "DX", "Chest PA", "CHEST", 1};
    constexpr int kRows = 2048, kCols = 1536;
    constexpr double kSpacing = 0.2;
    std::vector<uint16_t> px(static_cast<size_t>(kRows) * kCols);
    for (int r = 0; r < kRows; ++r) {
      for (int c = 0; c < kCols; ++c) {
        const double x = (c - kCols / 2 + 0.5) * kSpacing, y = (r - kRows / 2 + 0.5) * kSpacing;
        px[static_cast<size_t>(r) * kCols + c] =
            static_cast<uint16_t>(std::lround(ChestXray(x, y, c, r)));
      }
    }
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    PutCommon(ds, jane, dx_study, se);
    ds.putAndInsertString(DCM_SOPClassUID, UID_DigitalXRayImageStorageForPresentation);
    ds.putAndInsertString(DCM_SOPInstanceUID, uid().c_str());
    ds.putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY");
    ds.putAndInsertString(DCM_InstanceNumber, "1");
    ds.putAndInsertString(DCM_PresentationIntentType, "FOR PRESENTATION");
    ds.putAndInsertString(DCM_ViewPosition, "PA");
    ds.putAndInsertString(DCM_PatientOrientation, "L\\F");
    ds.putAndInsertString(DCM_PixelSpacing, "0.2\\0.2");
    ds.putAndInsertString(DCM_ImagerPixelSpacing, "0.2\\0.2");
    ds.putAndInsertString(DCM_KVP, "125");
    ds.putAndInsertString(DCM_RescaleIntercept, "0");
    ds.putAndInsertString(DCM_RescaleSlope, "1");
    ds.putAndInsertString(DCM_RescaleType, "US");
    ds.putAndInsertString(DCM_WindowCenter, "1800");
    ds.putAndInsertString(DCM_WindowWidth, "3200");
    PutImage(ds, kRows, kCols, 12, false, px);
    files.push_back({"dx/chest-pa.dcm", ToPart10(ff)});
  }
  return files;
}

}  // namespace imgpipe::dicom
