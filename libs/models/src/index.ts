// Public entry point of @framewire/models: trained models on a TensorFlow.js thread (files fetched at
// install and checked, backends, letterboxing) for the worker's model analyzers.
export { INFERENCE_BACKENDS, type InferenceBackend, type OutputTensor, type PixelEncoding, type TensorMemory } from './inference-protocol';
export { dynamicInputSize, fitLetterbox, imageToInputX, imageToInputY, inputToImageX, inputToImageY, type Letterbox } from './letterbox';
export { MODEL_NAMES, ModelFileError, findModelsDirectory, readModelArtifacts, type ModelName } from './model-files';
export { DEFAULT_MAX_PENDING, DEFAULT_RUN_TIMEOUT_MS, MODEL_START_TIMEOUT_MS, ModelBusyError, ModelInferenceError, ModelRunner, type InferenceRequest, type InferenceResult, type ModelRunnerOptions } from './model-runner';
export { PERSON_SEG_ANALYZER, PERSON_SEG_MODEL, PERSON_SEG_SETTINGS, PersonSegAnalyzer, type PersonSegSettings } from './person-seg';
export { COCO_CLASS_NAMES, COCO_KEYPOINT_COUNT, COCO_KEYPOINT_NAMES, COCO_PERSON_CLASS_ID, COCO_PERSON_LABEL, COCO_POINT_NAMES, type CocoKeypointName } from './coco';
export { CENTERNET_DETECTIONS_OUTPUT, CENTERNET_INPUT_SIZE, DETECT_ANALYZER, DETECT_SETTINGS, DETECTION_NMS_IOU, DetectAnalyzer, inputBoxToFrame, suppressOverlaps, type DetectSettings } from './detect';
export { MAX_POSE_PERSON_ID, MOVENET_INPUT_STEP, POSE_CONFIRM_FRAMES, personIdOf, POSE_ANALYZER, POSE_SETTINGS, PoseAnalyzer, poseKeypointId, type PoseSettings } from './pose';
export type { ModelInference } from './model-inference';
export { MODEL_ANALYZERS, ModelAnalyzers, isModelAnalyzer, type ModelAnalyzerKind, type ModelAnalyzersOptions, type StartedModel } from './model-analyzers';
