"""Phrase banks of the synthetic report writer (``cxrmodel.data.synthetic.reports.writer``), in Indiana University
X-ray style.

Every bank is a module-level tuple of complete sentences or sentence templates. The register follows the IU
collection (short declarative sentences, negations everywhere, de-identified words written ``XXXX``), but the
phrasings are our own. Templates use these placeholders, filled by the writer:

* ``{side}``: ``"right"`` or ``"left"`` (the patient's side).
* ``{location}``: a lung location that always contains the side word, e.g. ``"right upper lobe"``.
* ``{adjective}`` / ``{adverb}``: severity words, e.g. ``"mild"`` / ``"mildly"``.
* ``{size}``: a size word (``"small"``, ``"moderate"``, ``"large"``) or a measurement (``"8"``, ``"3.5"``).
* ``{spine}``: ``"thoracic spine"`` or ``"spine"``.

The writer capitalises the first letter of every sentence, so templates may start with a placeholder.
"""

from __future__ import annotations

# --- Normal sentences, one bank per structure --------------------------------------------------------------

HEART_NORMAL: tuple[str, ...] = (
    "The heart is normal in size.",
    "Heart size is normal.",
    "Heart size within normal limits.",
    "Normal heart size.",
    "The cardiac silhouette is normal in size.",
    "Cardiac size is within normal limits.",
    "The heart size is normal.",
    "Heart size is within normal limits.",
    "The cardiac contours are normal.",
    "Normal cardiac silhouette.",
)

MEDIASTINUM_NORMAL: tuple[str, ...] = (
    "The mediastinum is unremarkable.",
    "Normal mediastinal contour.",
    "Mediastinal contours are normal.",
    "The mediastinum is within normal limits.",
    "Hilar and mediastinal contours are unremarkable.",
    "The mediastinal silhouette is normal.",
    "No mediastinal widening.",
    "Mediastinal and hilar contours are within normal limits.",
    "Normal mediastinal and hilar contours.",
    "The mediastinal contours are unremarkable.",
)

HEART_AND_MEDIASTINUM_NORMAL: tuple[str, ...] = (
    "The cardiomediastinal silhouette is within normal limits.",
    "Normal cardiomediastinal silhouette.",
    "The heart and mediastinum are normal.",
    "Cardiomediastinal silhouette is normal in size and contour.",
    "The cardiomediastinal contours are unremarkable.",
    "Heart and mediastinum are within normal limits.",
    "The heart size and mediastinal contours are normal.",
    "Heart size and mediastinal contour are within normal limits.",
)

LUNGS_NORMAL: tuple[str, ...] = (
    "The lungs are clear.",
    "Lungs are clear bilaterally.",
    "No focal airspace disease.",
    "There is no focal consolidation.",
    "The lungs are clear without focal consolidation.",
    "The lungs are well expanded and clear.",
    "Clear lungs.",
    "No focal airspace opacity.",
    "No XXXX of focal airspace disease.",
    "The lungs are clear without focal airspace disease.",
    "No focal lung consolidation.",
)

LUNGS_NEUTRAL: tuple[str, ...] = (
    "The lungs are well expanded.",
    "Normal lung volumes.",
    "Lungs are well inflated.",
    "Lung volumes are within normal limits.",
)
"""Lung sentences that say nothing about the parenchyma (occasional extras in any report)."""

LUNGS_OTHERWISE_CLEAR: tuple[str, ...] = (
    "The lungs are otherwise clear.",
    "Otherwise, the lungs are clear.",
    "No other focal airspace disease.",
    "The remaining lung fields are clear.",
    "Lungs are otherwise clear bilaterally.",
    "No additional focal opacity.",
)
"""Lung sentences for a study that already describes one lung finding."""

PLEURA_NORMAL: tuple[str, ...] = (
    "No pneumothorax or pleural effusion.",
    "No pleural effusion or pneumothorax.",
    "There is no pneumothorax or pleural effusion.",
    "No pleural effusions or pneumothoraces.",
    "No XXXX of pleural effusion or pneumothorax.",
    "There is no evidence of pleural effusion or pneumothorax.",
    "No effusion or pneumothorax is seen.",
    "Negative for pneumothorax or pleural effusion.",
    "No pleural effusion. No pneumothorax.",
    "No evidence of pneumothorax or effusion.",
)

NO_EFFUSION: tuple[str, ...] = (
    "No pleural effusion.",
    "There is no pleural effusion.",
    "No pleural effusions.",
    "No XXXX of pleural effusion.",
    "No evidence of pleural effusion.",
)

NO_PNEUMOTHORAX: tuple[str, ...] = (
    "No pneumothorax.",
    "There is no pneumothorax.",
    "No evidence of pneumothorax.",
    "No visible pneumothorax.",
    "No pneumothorax is seen.",
)

LUNGS_AND_PLEURA_NORMAL: tuple[str, ...] = (
    "The lungs are clear without focal consolidation, effusion, or pneumothorax.",
    "Lungs are clear bilaterally with no pleural effusion or pneumothorax.",
    "The lungs are clear, without pneumothorax or pleural effusion.",
    "Clear lungs without effusion or pneumothorax.",
    "No focal consolidation, pneumothorax, or pleural effusion.",
    "No focal airspace disease, pleural effusion, or pneumothorax.",
)

BONES_NORMAL: tuple[str, ...] = (
    "No acute bony abnormality.",
    "The osseous structures are intact.",
    "Visualized osseous structures are unremarkable.",
    "No acute osseous abnormality.",
    "Bony structures are intact.",
    "The XXXX are intact.",
    "No displaced rib fractures.",
    "Osseous structures are within normal limits.",
    "The visualized bony structures are normal.",
    "No acute bone abnormality identified.",
)

BONES_NOT_ACUTE: tuple[str, ...] = (
    "No acute bony abnormality.",
    "No acute osseous abnormality.",
    "No displaced rib fractures.",
    "No acute bone abnormality identified.",
)
"""Bone sentences that stay true when the spine is degenerate (a degenerate spine is not an acute finding)."""

IMPRESSION_NORMAL: tuple[str, ...] = (
    "No acute cardiopulmonary abnormality.",
    "Normal chest x-XXXX.",
    "No active disease.",
    "No acute cardiopulmonary disease.",
    "No acute cardiopulmonary process.",
    "No acute disease.",
    "Negative chest x-XXXX.",
    "No acute findings.",
    "No acute pulmonary disease.",
    "Normal chest radiograph.",
)

IMPRESSION_NO_ACUTE: tuple[str, ...] = (
    "No acute cardiopulmonary abnormality.",
    "No acute cardiopulmonary disease.",
    "No acute cardiopulmonary process.",
    "No acute disease.",
    "No acute pulmonary disease.",
)
"""Normal impressions that stay true next to a chronic finding such as a degenerate spine."""

IMPRESSION_OTHERWISE: tuple[str, ...] = (
    "Otherwise, no acute cardiopulmonary abnormality.",
    "No other acute cardiopulmonary abnormality.",
    "Otherwise no acute disease.",
)

# --- Ambiguous-but-normal sentences (rule: they appear in normal reports AND carry understated findings) ----

HEART_AMBIGUOUS: tuple[str, ...] = (
    "Heart size upper limits of normal.",
    "The cardiac silhouette is at the upper limits of normal.",
    "Stable cardiomediastinal silhouette.",
    "Mild tortuosity of the thoracic aorta.",
)

LUNGS_AMBIGUOUS: tuple[str, ...] = (
    "Minimal streaky opacity, likely atelectasis.",
    "Minimal bibasilar atelectasis.",
    "Stable appearance of the chest.",
    "Minimal streaky opacities, likely scarring.",
)

PLEURA_AMBIGUOUS: tuple[str, ...] = (
    "No large pleural effusion.",
    "Minimal blunting of the costophrenic XXXX, likely chronic.",
    "Stable appearance of the chest.",
)

GENERAL_AMBIGUOUS: tuple[str, ...] = (
    "Stable appearance of the chest.",
    "Mild tortuosity of the thoracic aorta.",
    "Stable chest.",
)

# --- Technique (portable films) ------------------------------------------------------------------------------

TECHNIQUE_PORTABLE: tuple[str, ...] = (
    "Portable AP view of the chest.",
    "Single portable AP view of the chest.",
    "AP portable upright view of the chest.",
    "Limited by patient positioning.",
    "Low lung volumes.",
    "Exam limited by patient rotation.",
    "Portable semi-upright AP view.",
)

# --- Abnormal findings: FINDINGS-section templates ------------------------------------------------------------

CARDIOMEGALY_FINDINGS: tuple[str, ...] = (
    "{adjective} cardiomegaly.",
    "The heart is {adverb} enlarged.",
    "There is {adjective} enlargement of the cardiac silhouette.",
    "The cardiac silhouette is {adverb} enlarged.",
    "Heart size is {adverb} enlarged.",
    "{adjective} cardiomegaly is present.",
)

CARDIOMEGALY_WORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "borderline": (("borderline", "borderline"),),
    "mild": (("mild", "mildly"),),
    "moderate": (("moderate", "moderately"),),
    "severe": (("marked", "markedly"), ("severe", "severely")),
}
"""(adjective, adverb) pairs per cardiomegaly band."""

EFFUSION_FINDINGS: tuple[str, ...] = (
    "{size} {side} pleural effusion.",
    "There is a {size} {side} pleural effusion.",
    "{size} {side}-sided pleural effusion.",
    "A {size} pleural effusion is present on the {side}.",
    "Blunting of the {side} costophrenic XXXX consistent with a {size} pleural effusion.",
    "{size} {side} pleural effusion with adjacent atelectasis.",
)

PNEUMOTHORAX_FINDINGS: tuple[str, ...] = (
    "{size} {side} pneumothorax.",
    "There is a {size} {side} pneumothorax.",
    "{size} {side} apical pneumothorax.",
    "A {size} pneumothorax is present on the {side}.",
    "{size} {side}-sided pneumothorax.",
)

NODULE_SMALL_FINDINGS: tuple[str, ...] = (
    "Small nodule in the {location}.",
    "There is a {size} mm nodule in the {location}.",
    "Small nodular opacity in the {location}.",
    "Subtle {size} mm nodule projecting over the {location}.",
    "A small pulmonary nodule is seen in the {location}.",
)

NODULE_LARGE_FINDINGS: tuple[str, ...] = (
    "{size} mm nodule in the {location}.",
    "There is a {size} mm pulmonary nodule in the {location}.",
    "Nodule in the {location} measuring {size} mm.",
    "Well-circumscribed nodule in the {location}, measuring XXXX mm.",
    "A {size} mm nodular opacity is present in the {location}.",
)

MASS_FINDINGS: tuple[str, ...] = (
    "{size} cm mass in the {location}.",
    "There is a {size} cm mass in the {location}.",
    "Mass in the {location} measuring approximately XXXX cm.",
    "{adjective} mass in the {location}, measuring {size} cm.",
    "Lobulated {adjective} mass in the {location}.",
)

MASS_ADJECTIVES: dict[str, tuple[str, ...]] = {"small": ("", "soft tissue"), "large": ("large", "bulky")}

CONSOLIDATION_FINDINGS: dict[str, tuple[str, ...]] = {
    "subtle": (
        "Patchy airspace opacity in the {location}.",
        "Mild hazy opacity in the {location}.",
        "Subtle focal airspace disease in the {location}.",
        "Faint patchy infiltrate in the {location}.",
    ),
    "moderate": (
        "Focal airspace disease in the {location}.",
        "There is consolidation in the {location}.",
        "Airspace opacity in the {location} concerning for pneumonia.",
        "Patchy infiltrate in the {location}.",
        "Focal consolidation within the {location}.",
    ),
    "dense": (
        "Dense consolidation in the {location}.",
        "Extensive airspace disease throughout the {location}.",
        "Large area of consolidation in the {location} with air bronchograms.",
        "Dense infiltrate in the {location}.",
    ),
}

DEGENERATIVE_FINDINGS: tuple[str, ...] = (
    "{adjective} degenerative changes of the {spine}.",
    "{adjective} degenerative changes are present in the {spine}.",
    "{adjective} spondylosis of the {spine}.",
    "{adjective} osteophyte formation in the {spine}.",
    "{adjective} degenerative disc disease of the {spine}.",
)

DEGENERATIVE_ADJECTIVES: dict[str, tuple[str, ...]] = {
    "mild": ("mild", "minimal"),
    "moderate": ("moderate", "multilevel"),
    "severe": ("severe", "advanced"),
}

# --- Abnormal findings: IMPRESSION templates ------------------------------------------------------------------

CARDIOMEGALY_IMPRESSIONS: tuple[str, ...] = (
    "{adjective} cardiomegaly.",
    "{adjective} cardiomegaly without acute pulmonary disease.",
    "{adjective} enlargement of the cardiac silhouette.",
    "{adjective} cardiomegaly, no acute pulmonary findings.",
)

EFFUSION_IMPRESSIONS: tuple[str, ...] = (
    "{size} {side} pleural effusion.",
    "{size} {side} pleural effusion, possibly with underlying atelectasis.",
    "{size} {side}-sided pleural effusion.",
    "{side} pleural effusion, {size}.",
)

PNEUMOTHORAX_IMPRESSIONS: tuple[str, ...] = (
    "{size} {side} pneumothorax.",
    "{size} {side} pneumothorax. Findings XXXX to the ordering physician.",
    "{size} {side}-sided pneumothorax.",
    "{side} pneumothorax, {size}.",
)

NODULE_IMPRESSIONS: tuple[str, ...] = (
    "Nodule in the {location}. Recommend CT for further evaluation.",
    "{size} mm {location} nodule. Chest CT recommended.",
    "Pulmonary nodule in the {location}.",
    "{location} pulmonary nodule, further evaluation with CT is recommended.",
)

MASS_IMPRESSIONS: tuple[str, ...] = (
    "{location} mass, concerning for malignancy.",
    "Mass in the {location}. Recommend CT chest for further evaluation.",
    "{size} cm {location} mass, neoplasm not excluded.",
    "{location} mass. Further evaluation with CT is recommended.",
)

CONSOLIDATION_IMPRESSIONS: tuple[str, ...] = (
    "{location} airspace disease, likely pneumonia.",
    "{location} consolidation.",
    "{location} infiltrate concerning for pneumonia.",
    "Focal airspace disease in the {location}, XXXX pneumonia.",
)

DEGENERATIVE_IMPRESSIONS: tuple[str, ...] = (
    "{adjective} degenerative changes of the {spine}.",
    "{adjective} degenerative changes of the {spine}. No acute cardiopulmonary abnormality.",
    "{adjective} spondylosis of the {spine}.",
    "No acute cardiopulmonary abnormality. {adjective} degenerative changes of the {spine}.",
)

# --- Lung locations per zone (each contains the side word) ---------------------------------------------------

LOCATIONS: dict[str, tuple[str, ...]] = {
    "upper": ("{side} upper lobe", "{side} apex", "{side} upper lung zone", "{side} upper lung"),
    "middle/right": ("right middle lobe", "right midlung", "right midlung zone", "right perihilar region"),
    "middle/left": ("left midlung", "left midlung zone", "lingular region of the left lung", "left perihilar region"),
    "lower": ("{side} lower lobe", "{side} lung base", "{side} base", "{side} lower lung zone"),
    "none": ("{side} lung", "{side} hemithorax", "{side} mid and lower lung"),
}

# --- COMPARISON and INDICATION ---------------------------------------------------------------------------------

COMPARISONS: tuple[tuple[str, float], ...] = (
    ("None.", 0.32),
    ("", 0.25),
    ("XXXX", 0.14),
    ("XXXX, XXXX", 0.08),
    ("Chest radiograph XXXX", 0.07),
    ("Chest x-XXXX XXXX", 0.06),
    ("PA and lateral chest XXXX", 0.04),
    ("None available.", 0.04),
)
"""(text, weight) pairs; the same for normal and abnormal studies."""

INDICATION_REASONS: tuple[tuple[str, float, float], ...] = (
    ("chest pain", 0.20, 0.17),
    ("shortness of breath", 0.09, 0.11),
    ("cough", 0.08, 0.08),
    ("cough and fever", 0.04, 0.06),
    ("preop", 0.07, 0.06),
    ("positive TB test", 0.05, 0.04),
    ("positive PPD", 0.04, 0.03),
    ("dyspnea", 0.04, 0.07),
    ("fever", 0.03, 0.05),
    ("hypertension", 0.04, 0.04),
    ("chest pain, hypertension", 0.03, 0.03),
    ("follow-up", 0.04, 0.04),
    ("routine exam", 0.04, 0.03),
    ("abdominal pain", 0.03, 0.03),
    ("back pain", 0.03, 0.03),
    ("fall", 0.03, 0.03),
    ("weakness", 0.03, 0.03),
    ("syncope", 0.02, 0.02),
    ("XXXX", 0.04, 0.03),
    ("diabetes, chest pain", 0.03, 0.02),
)
"""(reason, weight for normal studies, weight for abnormal studies)."""

INDICATION_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("{Reason}", 0.45),
    ("{Reason}.", 0.1),
    ("XXXX-year-old {sex} with {reason}", 0.2),
    ("XXXX-year-old {sex}, {reason}.", 0.15),
    ("{Sex}, {reason}", 0.1),
)
"""(template, weight); ``{Reason}``/``{Sex}`` are capitalised, ``{reason}``/``{sex}`` are not."""
